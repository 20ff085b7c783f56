"""Public-data pack for any children's services authority in England (issue 16): authority lookup
(``authorities``), the shared public tables read once (``data``), one authority's figures (``figures``), their
display (``render``) and the build (``pack``)."""
