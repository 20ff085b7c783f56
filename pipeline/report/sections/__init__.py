"""One module per notebook: each turns the quarter's computations into what the notebook displays."""
