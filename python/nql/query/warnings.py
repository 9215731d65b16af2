"""`neptune_query.warnings`: the warning classes of neptune-query 1.x."""

__all__ = ["AttributeWarning", "ExperimentalWarning"]


class AttributeWarning(UserWarning):
    """Warning for attribute issues (an attribute a filter names that the project lacks, ...)."""


class ExperimentalWarning(UserWarning):
    """Warning for use of experimental API elements."""
