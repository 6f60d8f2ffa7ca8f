"""jejak as the organisation's service (``jejak serve``): releases are requested and approved
here, leaks investigated here, and everything done is in the audit log.

This package imports the library; the library never imports it.
"""
