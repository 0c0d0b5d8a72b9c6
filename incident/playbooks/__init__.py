"""Playbooks: the guideline's section 3(4) as data files, one per incident kind."""
