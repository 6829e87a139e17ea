"""One module per mechanism of the model (docs/ODD.md, part 7). Each exposes plain functions of (model, day) that act on the
borrower arrays in :mod:`sim.state`; the order in which they run is in :mod:`sim.model`."""
