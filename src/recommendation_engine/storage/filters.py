"""The attribute-equality filter (`filter.<name>=<value>`) as SQL, shared by every
query that applies it."""


def attribute_filter(alias: str, names: str, values: str) -> str:
    """A predicate true when entity ``alias`` has every attribute ``names[i]`` equal to
    ``values[i]``, or, for list attributes, containing it. ``names`` and ``values`` are
    text[] parameters."""
    # An entity without the attribute does not match: the comparison with its missing
    # value is NULL, which the coalesce turns into "no match".
    return f"""NOT EXISTS (
      SELECT 1 FROM unnest({names}::text[], {values}::text[]) AS f(name, value)
      WHERE NOT coalesce({alias}.attributes ->> f.name = f.value
                         OR (jsonb_typeof({alias}.attributes -> f.name) = 'array'
                             AND {alias}.attributes -> f.name ? f.value), false)
  )"""
