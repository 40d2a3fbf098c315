"""A batch of files: planning inputs and outputs, resume verdicts, scales other than x4, and the runner that
overlaps decode, model and encode."""
