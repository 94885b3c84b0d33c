"""People rules: the signed connect state, the token cache cipher, connections and their events."""
