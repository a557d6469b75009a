-- A renewal of a removed compose recreates it from its stored package set:
-- `replay_of` names the compose whose package set the new one takes.
ALTER TABLE composes ADD COLUMN replay_of BIGINT;
