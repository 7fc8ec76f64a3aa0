"""Use cases: what the API asks for, decided here, stored through `storage`."""
