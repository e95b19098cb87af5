"""Phone verification: mainland mobile numbers, one-time codes by SMS, their limits, and numbers at rest.

Registration, sign-in by phone, password reset and showcase votes call ``codes.verify``; the public API
asks ``service.request_code``.
"""
