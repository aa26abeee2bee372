"""Layer 1, what every other layer stands on: SpecError, strict frozen-dataclass specs and their hashes,
registries, atomic writes, table printing. No third-party imports beyond the standard library."""
