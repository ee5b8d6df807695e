"""The mediation domain: state machines declared as data, the domain model, and analysis.

Pure Python: this package imports neither ``telegram`` nor ``sqlalchemy`` (a test enforces it).
"""
