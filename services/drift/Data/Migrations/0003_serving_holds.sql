-- What each version holds in the registry that a serving system can be given (Production, an alias): a version is
-- watched while it holds anything, since GetDeployable can serve it.
CREATE TABLE serving_holds (
    model    text        NOT NULL,
    version  text        NOT NULL,
    target   text        NOT NULL,   -- stage:PRODUCTION, alias:<name>
    since    timestamptz NOT NULL,
    PRIMARY KEY (model, version, target)
);
CREATE INDEX serving_holds_target ON serving_holds (model, target);
