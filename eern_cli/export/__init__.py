"""Export EERN for other runtimes: ONNX (``onnx.py``) and ncnn ``.param/.bin`` for upscayl (``ncnn.py``).

``graph.py`` is the module both exporters trace (interface range, small-image padding) and the provenance
written into every exported file; ``verify.py`` runs an exported file and compares it with eern's own fp32
whole-frame output. Everything here needs the optional ``eern[export]`` packages, imported only when used.
"""
