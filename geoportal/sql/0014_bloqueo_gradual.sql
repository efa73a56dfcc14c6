-- Lockout that backs off instead of locking for good (api/institucional/ingreso.py).
--
-- Every login attempt keeps its row; `tipo` says what it was:
--   'intento'    a password was checked (exito says whether it was right);
--   'bloqueado'  refused unchecked while its name or address had to wait: it is kept for
--                the record but never counts as a failure (one wrong try every few
--                minutes no longer keeps a known user locked for ever);
--   'desbloqueo' `geoportal usuarios desbloquear NOMBRE` or `geoportal usuarios clave
--                NOMBRE`: the name's earlier failures stop counting.
ALTER TABLE acceso.intento_ingreso ADD COLUMN tipo text NOT NULL DEFAULT 'intento'
    CHECK (tipo IN ('intento', 'bloqueado', 'desbloqueo'));
-- "This name got in from this address before" (an office behind one NAT keeps working
-- while an attacker on the same address waits).
CREATE INDEX intento_ingreso_exito_idx ON acceso.intento_ingreso (nombre, ip, momento) WHERE exito;
