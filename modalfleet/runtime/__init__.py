"""Code that runs inside the Modal container: weights, dtype, encoding, one module per model kind.

Generated handlers (generated/<strategy>/<model>.py) import these modules; the image ships this
package with `add_local_python_source("modalfleet")`. Heavy imports (torch, diffusers) stay inside
function bodies so that importing a module here is cheap and needs none of them.
"""
