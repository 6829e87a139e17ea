"""One module per mechanism of MODEL.md. Each exposes plain functions of (model, day) that act on the
borrower arrays in :mod:`sim.state`; the order in which they run is in :mod:`sim.model`."""
