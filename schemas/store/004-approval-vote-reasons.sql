-- Why each person approved or denied a held request, next to who, when and
-- through what (`source`: cli, admin-api, github).
ALTER TABLE gatehouse.approval_votes ADD COLUMN reason text;
