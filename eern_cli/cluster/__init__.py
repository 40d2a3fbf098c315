"""eern on a Ray cluster: ``connect`` joins or starts one, ``worker`` is the actor that upscales, ``driver``
sends it the jobs and reports as a local run does. Nothing here imports Ray until it is used."""
