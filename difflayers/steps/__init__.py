"""The walkthrough's steps, one module each, run inside the kit's containers."""
