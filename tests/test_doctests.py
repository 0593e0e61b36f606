"""The examples in docstrings are run, so a docstring never shows an answer the code no longer gives."""

import doctest
import importlib

import pytest

MODULES = ["smartframe", "smartframe.geometry", "smartframe.outputs", "smartframe.pipeline"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples any more: update MODULES"
    assert result.failed == 0
