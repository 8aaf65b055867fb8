"""Image upload pipeline: validation, metadata stripping, derivatives (bytes in, bytes out).

The entry point is ``media.pipeline.process_image``. This is the only package that imports
Pillow; everything else handles the ``media.models`` value types.
"""
