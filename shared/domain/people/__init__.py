"""People rules (design.md section 11): the signed connect state, the token cache cipher, connections and their
events; appointments; watched organizers; availability."""
