"""The budget position, the forecast and the finance statements."""
