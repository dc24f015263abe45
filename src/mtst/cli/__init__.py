"""The ``mtst`` command. Each command parses its own params.yaml section and calls one library function;
no computation lives here."""

# The commands live in one module per concern (data, experiment, inference, kfp, params; shared options in
# common); this module builds the one app from them. The order below is the order `mtst --help` lists them.

from __future__ import annotations

import gc

import typer

from mtst.cli.curve import curve
from mtst.cli.dag import dag_app
from mtst.cli.data import augment, data_app, validate, wordnet_app
from mtst.cli.experiment import compare, evaluate, train, ui
from mtst.cli.inference import embed, export, predict
from mtst.cli.kfp import kfp_app
from mtst.cli.params import params_app
from mtst.cli.serve import serve

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
for _name, _command in (("train", train), ("embed", embed), ("validate", validate), ("augment", augment),
                        ("evaluate", evaluate), ("compare", compare), ("predict", predict), ("serve", serve),
                        ("export", export), ("curve", curve), ("ui", ui)):
    app.command(_name)(_command)
app.add_typer(data_app, name="data")
app.add_typer(params_app, name="params")
app.add_typer(kfp_app, name="kfp")
app.add_typer(dag_app, name="dag")
app.add_typer(wordnet_app, name="wordnet")


def main() -> None:
    """The console entry (``mtst``, ``python -m mtst.cli``): the app, then a quick interpreter shutdown.

    Why ``gc.freeze()``: a command that imported torch and transformers leaves the interpreter a long garbage
    collection over their millions of objects at shutdown, once per command, in every stage of a ``dvc repro``.
    Frozen objects are skipped by those last collections; the rest of the exit (atexit handlers, flushed
    streams, the exit code) is as usual (``tests/test_cli.py`` checks them)."""
    try:
        app(prog_name="mtst")
    finally:
        gc.freeze()
