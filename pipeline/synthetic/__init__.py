"""The synthetic-authority generator (a developer tool: only the CLI, benchmarks and tests import it).

One seeded monthly stock-flow process of children looked after (``simulate``), calibrated to an
authority's published counts (``calibration``), written as every SSDA903 table in DfE's layout
(``ssda903_tables``, ``child_tables``, ``formats``), a finance ledger (``ledger``), quarterly returns
(``returns``), the oracle of rates it used and metadata (``write``), and optionally as councils'
systems export them (``messy``). Everything it writes is synthetic and says so. See docs/synthetic.md.
"""

from pipeline.synthetic.calibration import CALIBRATION_SOURCE, PUBLISHED, Config, published_counts, targets
from pipeline.synthetic.ledger import PLACEMENT_SPEND_2021_22, placement_days
from pipeline.synthetic.messy import messify, messy_csv, messy_ledger, messy_return
from pipeline.synthetic.simulate import AGE_BANDS, DURATION_BANDS, ENTRY_CATEGORY, EXIT_REASONS, Simulation, simulate
from pipeline.synthetic.ssda903_tables import COLLECTION_YEARS, build_episodes, ssda903_returns
from pipeline.synthetic.write import generate, write_demo

__all__ = ["AGE_BANDS", "CALIBRATION_SOURCE", "COLLECTION_YEARS", "Config", "DURATION_BANDS", "ENTRY_CATEGORY", "EXIT_REASONS",
           "PLACEMENT_SPEND_2021_22", "PUBLISHED", "Simulation", "build_episodes", "generate", "messify", "messy_csv",
           "messy_ledger", "messy_return", "placement_days", "published_counts", "simulate", "ssda903_returns",
           "targets", "write_demo"]
