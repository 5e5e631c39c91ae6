//! The message table: one row per key, Vietnamese first, then English.
//!
//! Placeholders are `{name}` and are filled by `t(key, name=…)` in templates
//! or by [`super::text_with`]. Messages are plain text: templates escape them.

/// `(key, vi, en)` rows. Keys are unique (a unit test checks it).
pub const MESSAGES: &[(&str, &str, &str)] = &[
    // Frame: header, footer, language switch.
    ("brand.tagline", "Cổng đăng nhập một cửa", "One-stop sign-in portal"),
    ("footer.request_id", "Mã yêu cầu", "Request ID"),
    (
        "footer.safety",
        "Không chia sẻ mật khẩu với bất kỳ ai, kể cả cán bộ hỗ trợ.",
        "Never share your password with anyone, not even support staff.",
    ),
    ("form.error_prefix", "Lỗi:", "Error:"),
    ("form.fix_errors", "Vui lòng sửa các lỗi được đánh dấu bên dưới.", "Please correct the errors marked below."),
    ("form.optional", "không bắt buộc", "optional"),
    // Sign in.
    ("login.title", "Đăng nhập", "Sign in"),
    ("login.continue_to", "Đăng nhập để tiếp tục đến {client}", "Sign in to continue to {client}"),
    ("login.identifier", "Số định danh cá nhân (CCCD) hoặc email", "National ID number (CCCD) or email"),
    ("login.password", "Mật khẩu", "Password"),
    ("login.submit", "Đăng nhập", "Sign in"),
    ("login.no_account", "Chưa có tài khoản?", "No account yet?"),
    ("login.signup_link", "Đăng ký", "Create an account"),
    // Sign up.
    ("signup.title", "Đăng ký tài khoản", "Create an account"),
    ("signup.national_id", "Số định danh cá nhân (CCCD)", "National ID number (CCCD)"),
    ("signup.national_id_hint", "12 chữ số, in trên thẻ căn cước", "12 digits, printed on your identity card"),
    ("signup.full_name", "Họ và tên", "Full name"),
    ("signup.email", "Email", "Email"),
    ("signup.password", "Mật khẩu", "Password"),
    (
        "signup.password_hint",
        "Ít nhất 8 ký tự. Một cụm từ dễ nhớ là lựa chọn tốt.",
        "At least 8 characters. A memorable phrase works well.",
    ),
    ("signup.password_confirm", "Nhập lại mật khẩu", "Repeat the password"),
    ("signup.submit", "Đăng ký", "Create account"),
    ("signup.have_account", "Đã có tài khoản?", "Already have an account?"),
    ("signup.login_link", "Đăng nhập", "Sign in"),
    // Consent.
    ("consent.title", "Cho phép truy cập", "Allow access"),
    (
        "consent.intro",
        "{client} muốn đọc các thông tin sau từ tài khoản của bạn:",
        "{client} wants to read the following from your account:",
    ),
    ("consent.operated_by", "Dịch vụ này do {org} quản lý.", "This service is run by {org}."),
    (
        "consent.deny_note",
        "Nếu bạn từ chối, bạn sẽ được đưa về dịch vụ và không thông tin nào được chia sẻ.",
        "If you deny, you go back to the service and nothing is shared.",
    ),
    ("consent.allow", "Cho phép", "Allow"),
    ("consent.deny", "Từ chối", "Deny"),
    ("account.signed_in_as", "Bạn đang đăng nhập với tên {name}.", "You are signed in as {name}."),
    // Home.
    ("home.title", "Tài khoản Motcua", "Motcua account"),
    (
        "home.intro",
        "Motcua cho phép bạn dùng một tài khoản cho các dịch vụ công trực tuyến.",
        "Motcua lets you use one account for online public services.",
    ),
    ("home.signed_out", "Bạn chưa đăng nhập.", "You are not signed in."),
    ("home.logout", "Đăng xuất", "Sign out"),
    ("home.login", "Đăng nhập", "Sign in"),
    ("home.signup", "Đăng ký tài khoản", "Create an account"),
    // Form post response mode.
    ("form_post.title", "Đang quay lại dịch vụ", "Returning to the service"),
    ("form_post.text", "Đang đưa bạn trở lại dịch vụ…", "Taking you back to the service…"),
    (
        "form_post.noscript",
        "Trình duyệt của bạn đã tắt JavaScript. Hãy nhấn nút để tiếp tục.",
        "JavaScript is turned off in your browser. Press the button to continue.",
    ),
    ("form_post.continue", "Tiếp tục", "Continue"),
    // Error page frame.
    ("error.code", "Mã lỗi", "Error code"),
    (
        "error.quote_request_id",
        "Khi liên hệ bộ phận hỗ trợ, vui lòng cung cấp mã yêu cầu này:",
        "If you contact support, please quote this request ID:",
    ),
    ("error.home", "Về trang chủ", "Go to the home page"),
    // Error titles (for `title` on error.html).
    ("err.title", "Không thể tiếp tục", "We could not continue"),
    ("err.title_not_found", "Không tìm thấy trang", "Page not found"),
    ("err.title_throttled", "Vui lòng đợi", "Please wait"),
    ("err.title_server", "Hệ thống đang gặp sự cố", "Something went wrong"),
    // Error messages used by the handlers and the domain.
    (
        "err.invalid_credentials",
        "Số định danh/email hoặc mật khẩu không đúng.",
        "The national ID/email or password is incorrect.",
    ),
    (
        "err.throttled",
        "Bạn đã thử quá nhiều lần. Vui lòng thử lại sau {n} giây.",
        "Too many attempts. Please try again in {n} seconds.",
    ),
    (
        "err.throttled_signup",
        "Có quá nhiều lần đăng ký từ mạng của bạn. Vui lòng thử lại sau một giờ.",
        "Too many sign-ups from your network. Please try again in an hour.",
    ),
    ("err.csrf", "Biểu mẫu đã hết hạn. Vui lòng thử lại.", "This form has expired. Please try again."),
    ("err.required", "Vui lòng điền thông tin này.", "Please fill in this field."),
    (
        "err.national_id_invalid",
        "Số định danh cá nhân phải gồm đúng 12 chữ số.",
        "The national ID number must be exactly 12 digits.",
    ),
    ("err.name_invalid", "Vui lòng nhập họ và tên hợp lệ.", "Please enter a valid full name."),
    ("err.email_invalid", "Địa chỉ email không hợp lệ.", "The email address is not valid."),
    ("err.phone_invalid", "Số điện thoại không hợp lệ.", "The phone number is not valid."),
    ("err.password_too_short", "Mật khẩu phải có ít nhất 8 ký tự.", "The password must be at least 8 characters long."),
    (
        "err.password_too_common",
        "Mật khẩu này quá phổ biến và dễ bị đoán. Hãy chọn mật khẩu khác.",
        "This password is too common and easy to guess. Choose another one.",
    ),
    ("err.password_mismatch", "Hai mật khẩu không khớp nhau.", "The two passwords do not match."),
    (
        "err.national_id_taken",
        "Số định danh này đã được đăng ký. Vui lòng đăng nhập.",
        "This national ID number is already registered. Please sign in instead.",
    ),
    (
        "err.email_taken",
        "Email này đã được dùng cho một tài khoản khác.",
        "This email is already used by another account.",
    ),
    (
        "err.unknown_client",
        "Dịch vụ đã chuyển bạn đến đây chưa được đăng ký với Motcua.",
        "The service that sent you here is not registered with Motcua.",
    ),
    (
        "err.invalid_redirect_uri",
        "Địa chỉ quay lại của dịch vụ chưa được đăng ký, vì vậy chúng tôi sẽ không chuyển bạn đến đó.",
        "The service's return address is not registered, so we will not send you there.",
    ),
    (
        "err.invalid_request",
        "Yêu cầu không hợp lệ. Vui lòng quay lại dịch vụ và thử lại.",
        "The request is not valid. Please go back to the service and try again.",
    ),
    (
        "err.login_expired",
        "Yêu cầu đăng nhập đã hết hạn. Vui lòng quay lại dịch vụ và bắt đầu lại.",
        "The sign-in request has expired. Please go back to the service and start again.",
    ),
    (
        "err.server_error",
        "Hệ thống đang gặp sự cố. Vui lòng thử lại sau ít phút.",
        "Something went wrong on our side. Please try again in a few minutes.",
    ),
    ("err.not_found", "Không tìm thấy trang bạn yêu cầu.", "The page you asked for does not exist."),
    (
        "err.account_disabled",
        "Tài khoản này đã bị khóa. Vui lòng liên hệ bộ phận hỗ trợ.",
        "This account has been disabled. Please contact support.",
    ),
    (
        "err.internal",
        "Đã xảy ra lỗi nội bộ. Vui lòng thử lại sau.",
        "An internal error occurred. Please try again later.",
    ),
    // Scopes, in plain words: what the service will read.
    ("scope.openid", "Mã định danh tài khoản của bạn tại dịch vụ này", "Your account identifier for this service"),
    ("scope.profile", "Họ và tên, ngày sinh, giới tính", "Full name, date of birth, gender"),
    (
        "scope.email",
        "Địa chỉ email và việc email đã được xác minh hay chưa",
        "Email address, and whether it has been verified",
    ),
    (
        "scope.phone",
        "Số điện thoại và việc số đã được xác minh hay chưa",
        "Phone number, and whether it has been verified",
    ),
    ("scope.address", "Địa chỉ của bạn", "Your address"),
    ("scope.national_id", "Số định danh cá nhân (CCCD) của bạn", "Your national ID number (CCCD)"),
    (
        "scope.offline_access",
        "Duy trì kết nối khi bạn không sử dụng dịch vụ",
        "Stay connected when you are not using the service",
    ),
];
