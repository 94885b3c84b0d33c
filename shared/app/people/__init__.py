"""People use cases: connecting a person (connect), the status routes (status), their delegated token credential
(delegated); the state changes all of them share are in lifecycle."""
