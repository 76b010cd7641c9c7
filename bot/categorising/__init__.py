"""Categorising: the operator's category table and the assignment of categories to items."""
