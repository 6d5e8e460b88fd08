from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """Every page an authenticated user sees may carry patient data: never let a browser or proxy keep it.

    Static files are served by WhiteNoise before this middleware runs and keep their long cache headers.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(
            response
        )  # Cache-Control: max-age=0, no-cache, no-store, must-revalidate, private
        return response
