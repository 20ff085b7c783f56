"""Reading inputs: schemas, parsing, the ledger, SSDA903 returns (+ reference code lists), pseudonymisation."""
