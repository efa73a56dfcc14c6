"""The release's own attacker (``geoportal.disclosure.auditoria``) on a hand-built release.

One res-7 cell C of 43 households: a listed res-8 child D (31) and an unlisted reserved
child E (12). Everything above C holds the same 43 households, in one district. An
attacker who learns that C's unlisted remainder is not empty knows it holds at least
T = 10, so C >= D + 10 and D <= C - 10. Worked by hand:

* D published 35 (D in 31..39), C published 40 (C in 36..44): C >= 31 + 10 = 41, so
  C in 41..44 (4 values) and D <= 44 - 10 = 34, so D in 31..34: both narrowed, and so is
  every area equal to C (res 6, res 5, country, department, district);
* C published 45 (C in 41..49): C >= 41 is no news and D <= 39 neither: nothing narrowed.
"""

import h3
import numpy as np
import pandas as pd

from geoportal.disclosure.auditoria import narrowed

T, B = 10, 5
C = h3.latlng_to_cell(-25.3, -57.6, 7)
D, E = sorted(h3.cell_to_children(C, 8))[:2]
R6, R5 = h3.cell_to_parent(C, 6), h3.cell_to_parent(C, 5)


def release():
    rows = [
        ("pais", "PY", None, 43),
        ("departamento", "11", "PY", 43),
        ("distrito", "1116", "11", 43),
        ("h3_5", R5, "PY", 43),
        ("h3_6", R6, R5, 43),
        ("h3_7", C, R6, 43),
        ("h3_8", D, C, 31),
        ("h3_8", E, C, 12),
    ]
    frame = pd.DataFrame(rows, columns=["nivel", "codigo", "padre", "hogares"])
    fine = pd.DataFrame(
        {
            "codigo_2012": ["1116", "1116"],
            "dpto": ["11", "11"],
            "h3_8": [h3.str_to_int(D), h3.str_to_int(E)],
            "hogares": [31, 12],
        }
    )
    reserved = (frame["codigo"] == E).to_numpy()
    return frame, fine, reserved


def test_a_parent_published_less_than_t_above_its_child_while_its_remainder_holds_households_is_narrowed():
    frame, fine, reserved = release()
    shown = np.where(frame["codigo"] == D, 35, 40)
    flagged = narrowed(frame, shown, reserved, fine, T, B)
    assert frame.loc[flagged, "codigo"].tolist() == ["PY", "11", "1116", R5, R6, C, D]


def test_a_parent_published_t_or_more_above_its_child_is_not_narrowed():
    frame, fine, reserved = release()
    shown = np.where(frame["codigo"] == D, 35, 45)
    assert not narrowed(frame, shown, reserved, fine, T, B).any()


def test_without_the_remainder_the_same_figures_narrow_nothing():
    """E merged into D (one listed child of 43, published 40 like C): no remainder, no news."""
    frame, fine, _ = release()
    frame = frame[frame["codigo"] != E].reset_index(drop=True)
    frame.loc[frame["codigo"] == D, "hogares"] = 43
    fine = fine.iloc[:1].assign(hogares=43)
    shown = np.full(len(frame), 40)
    assert not narrowed(frame, shown, np.zeros(len(frame), bool), fine, T, B).any()
