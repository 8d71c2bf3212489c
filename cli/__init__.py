"""The `leadscore` command line: commands parse options, call the library and print.

Top layer: may import every other leadscore package; nothing imports it.
"""
