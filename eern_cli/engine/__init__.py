"""The model and the exact tiled engine that runs it: tiles, ESA's gate, scratch maps, devices and precisions.

Nothing here reads or writes files of the user's; tensors in, tensors out."""
