{
  "version": 1,
  "algorithm": "ed25519",
  "key_id": "a6de125193bc2f71",
  "signature": "scbMlvMpG98pldnQNscHJowXJ5cFYWJ0Pg8iVStfBmd9y33DKYj1keW7Xxxigk+3Ok6aDRkScVZIVHyG78R2Cw=="
}
