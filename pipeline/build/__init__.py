"""Building a pack: the runner (papermill), export (HTML/PDF/xlsx), manifest and the nbconvert templates."""
