"""occam.theory: closed-form and symbolic results of the Occam phase transition (SPEC §2)."""
