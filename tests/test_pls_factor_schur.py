"""The block-first factor's Schur pattern (lmerpy.pls.factor.block_first.SchurPattern): its
density counted with NumPy (few pairs) equals the sparse product's, and the factor chooser,
which decides against the block-first factor from that density alone, picks what building
the factor would have picked."""
import warnings

import pytest

import lmerpy
from lmerpy.pls.factor import block_first as BF
from lmerpy.pls.factor.cholmod import cholmod_available
from lmerpy.pls.factor.chooser import THRESHOLDS, first_term_block, scipy_candidate
from lmerpy.pls.glmm.pirls import GlmmStructure

FORMULAS = [
    "TICKS ~ YEAR + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
    "TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)",
    "TICKS ~ YEAR + (1 | INDEX) + (1 | LOCATION)",
    "TICKS ~ YEAR + (1 | BROOD) + (1 | YEAR)",
    "TICKS ~ YEAR + (1 + HEIGHT | LOCATION) + (1 | BROOD)",
]


@pytest.fixture(scope="module")
def grouse():
    return lmerpy.datasets.load("grouseticks")


@pytest.mark.parametrize("formula", FORMULAS)
def test_density_counts_agree_and_choice_is_unchanged(grouse, formula, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = lmerpy.glFormula(formula, grouse, family="poisson")
    S = GlmmStructure(design)
    first, q2 = first_term_block(S.smap, S.blocks)
    assert first is not None
    numpy_count = BF.schur_pattern(S.smap, S.blocks, first).density()
    monkeypatch.setattr(BF, "PAIR_COUNT_MAX", -1)
    sparse_count = BF.schur_pattern(S.smap, S.blocks, first).density()
    assert numpy_count == sparse_count
    # the chooser's choice is the one the built candidate's density gives
    blk, q2b = scipy_candidate(S.smap, S.blocks, weights_vary=True)
    T = THRESHOLDS[True]
    if blk is not None and S.smap.q > T.dense_q and q2b > T.cheap_q2 and cholmod_available():
        assert blk.dense_block_density() == numpy_count
        expected = ("BlockFirstFactor" if blk.dense_block_density() >= T.min_density
                    else "CholmodFactor")
        assert type(S.factor).__name__ == expected
