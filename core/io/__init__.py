"""Reading and writing: block windows, the output transaction, images, scenes from STAC."""
