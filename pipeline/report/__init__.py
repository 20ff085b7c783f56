"""Display: rendering (render), disclosure control, narrative sentences and one sections module per notebook."""
