"""cocotb testbenches: drivers, monitors, reference models from quant/, scoreboards comparing raw bits."""
