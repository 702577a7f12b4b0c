"""Alembic environment: runs on the connection the application hands it."""

from alembic import context

from mailcomplaints.store.models import Base, UTCDateTime


def render_item(kind, obj, autogen_context):
    """Migrations store UTCDateTime as the plain DateTime it is, so they never
    import the models (which change after a migration is written)."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


connection = context.config.attributes.get("connection")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, render_item=render_item)
with context.begin_transaction():
    context.run_migrations()
