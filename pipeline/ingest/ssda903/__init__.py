"""The SSDA903 return (children looked after): its code lists and categories (codes), reading one
collection year (read), the episode and table checks (checks), and merging the years into one history
(merge). The names below are the package's interface: importers use ``ssda903.merge_returns`` etc.
The package imports only core/ and its own modules."""

from pipeline.ingest.ssda903.checks import (  # noqa: F401
    RULES,
    TABLE_DESCRIPTIONS,
    TABLE_FLAGS,
    TABLE_READER_NAMES,
    TABLE_RULES,
    check_episodes,
    check_table,
    clean_table,
    eighteenth,
)
from pipeline.ingest.ssda903.codes import (  # noqa: F401
    CATEGORIES,
    CATEGORY_LABELS,
    DATE_FORMAT,
    EPISODE_CODES,
    EPISODE_COLUMNS,
    FIRST_YEAR,
    HEADER_COLUMNS,
    LAST_YEAR,
    MISSING_COLUMNS,
    REFERENCE,
    UASC_COLUMNS,
    check_collection_year,
    code_table,
    collection_year_in_name,
    collection_year_label,
    date_order,
    normalise_child,
    normalise_code,
    parse_collection_year,
    parse_dates,
    place_category,
    valid_codes,
    year_start,
)
from pipeline.ingest.ssda903.merge import (  # noqa: F401
    CONTINUITY_TOLERANCE_PCT,
    FIXES,
    FLAGS,
    HISTORY_RULES,
    UNUSABLE,
    leading_zero_fixes,
    merge_returns,
)
from pipeline.ingest.ssda903.read import (  # noqa: F401
    DATE_COLUMNS,
    NEED,
    TABLES,
    XML_EPISODE,
    find_returns,
    read_return,
    year_counts,
)
