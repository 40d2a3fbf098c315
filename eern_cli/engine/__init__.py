"""The model and the exact tiled engine that runs it: tiles, ESA's gate, scratch maps, devices and precisions.

Nothing here reads or writes files of the user's; tensors in, tensors out."""

# EERN's upscaling factor, here (no torch) so that modules that only plan sizes need not import the model.
SCALE = 4
