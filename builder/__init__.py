"""imgbuild: PyTorch GPU images from one declared matrix."""
