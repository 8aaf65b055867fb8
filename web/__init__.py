"""web.

Importing the package registers the ``{name:id}`` path convertor (``web.ids``) before any
route module builds its routes.
"""

from web import ids as ids
