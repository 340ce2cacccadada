DROP TABLE match_verdicts;
