"""Evaluation: the paper's Table 3 on benchmark folders (``scoring``) and side-by-side pictures
(``comparison``)."""
