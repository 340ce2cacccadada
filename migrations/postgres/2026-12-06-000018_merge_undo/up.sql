-- What an applied merge wrote and what was there before (JSON): `revert --merge` undoes
-- exactly that, behind the same guards.
ALTER TABLE merges ADD COLUMN undo TEXT;
