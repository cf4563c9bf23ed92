"""The book's figures. These modules only draw; what they draw is computed elsewhere in ``cstr``."""
