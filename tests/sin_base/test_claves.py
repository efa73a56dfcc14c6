"""Record keys: the permanent random key that cell-key rounding rests on."""

import numpy as np
import pandas as pd

from geoportal.aggregate import KEY_MOD, record_keys


def test_a_record_keeps_its_key_whatever_else_is_in_the_batch():
    ids = pd.Series(["H1116000001-01", "Ñandutí-7", "x" * 41, "A"])
    together = record_keys(ids, "secreto")
    alone = [record_keys(pd.Series([i]), "secreto")[0] for i in ids]
    assert together.tolist() == alone


def test_keys_depend_on_the_secret_and_look_uniform():
    ids = pd.Series([f"H{i:010d}-{i % 9:02d}" for i in range(200_000)])
    a, b = record_keys(ids, "uno"), record_keys(ids, "dos")
    assert (a != b).mean() > 0.99
    assert a.min() >= 0 and a.max() < KEY_MOD
    counts, _ = np.histogram(a, bins=16, range=(0, KEY_MOD))
    assert counts.min() > 0.9 * len(ids) / 16 and counts.max() < 1.1 * len(ids) / 16
    assert len(np.unique(a)) > 0.99 * len(ids)
